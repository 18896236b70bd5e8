/*
name = "department_pairs"
refresh = "full"
grain = "one row per unordered pair of departments (department_a < department_b) bought together in at least one order"
description = """
Departments bought together: for each pair of product departments, the orders that hold a
product of both, with support, confidence both ways and lift. A basket is the set of distinct
departments of an order; every order with lines is a basket. support = pair_orders / baskets;
confidence_a_to_b = pair_orders / orders_a; lift = pair_orders * baskets / (orders_a * orders_b)."""

[columns]
department_a = "Alphabetically first department of the pair."
department_b = "The other department."
pair_orders = "Orders that hold products of both departments."
orders_a = "Orders that hold a product of department_a."
orders_b = "Orders that hold a product of department_b."
support = "pair_orders / baskets (double)."
confidence_a_to_b = "pair_orders / orders_a (double)."
confidence_b_to_a = "pair_orders / orders_b (double)."
lift = "pair_orders * baskets / (orders_a * orders_b) (double)."
*/
WITH baskets AS (
    SELECT DISTINCT i.order_id, p.department
    FROM silver.order_items AS i
    JOIN silver.products AS p ON p.product_id = i.product_id
),
total AS (
    SELECT COUNT(DISTINCT order_id) AS baskets FROM baskets
),
department_orders AS (
    SELECT department, COUNT(*) AS orders FROM baskets GROUP BY department
),
pairs AS (
    SELECT a.department AS department_a, b.department AS department_b, COUNT(*) AS pair_orders
    FROM baskets AS a
    JOIN baskets AS b ON b.order_id = a.order_id AND b.department > a.department
    GROUP BY a.department, b.department
)
SELECT
    p.department_a,
    p.department_b,
    p.pair_orders,
    oa.orders AS orders_a,
    ob.orders AS orders_b,
    CAST(p.pair_orders AS DOUBLE) / t.baskets AS support,
    CAST(p.pair_orders AS DOUBLE) / oa.orders AS confidence_a_to_b,
    CAST(p.pair_orders AS DOUBLE) / ob.orders AS confidence_b_to_a,
    CAST(p.pair_orders AS DOUBLE) * t.baskets / (CAST(oa.orders AS DOUBLE) * ob.orders) AS lift
FROM pairs AS p
CROSS JOIN total AS t
JOIN department_orders AS oa ON oa.department = p.department_a
JOIN department_orders AS ob ON ob.department = p.department_b
