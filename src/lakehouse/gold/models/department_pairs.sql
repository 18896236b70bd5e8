/*
name = "department_pairs"
refresh = "full"
depends_on = ["department_basket_days"]
grain = "one row per unordered pair of departments (department_a < department_b) bought together in at least one order"
freshness = "every run"
description = """
Departments bought together: for each pair of product departments, the orders that hold a
product of both, with support, confidence both ways and lift. A basket is the set of distinct
departments of an order; every order with lines is a basket. support = pair_orders / baskets;
confidence_a_to_b = pair_orders / orders_a; lift = pair_orders * baskets / (orders_a * orders_b).
The counts are sums over gold.department_basket_days, which holds them per order date."""

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
WITH days AS (
    SELECT date, department_a, department_b, orders, baskets
    FROM gold.department_basket_days
),
total AS (
    SELECT SUM(baskets) AS baskets
    FROM (SELECT date, MAX(baskets) AS baskets FROM days GROUP BY date) AS per_day
),
department_orders AS (
    SELECT department_a AS department, SUM(orders) AS orders
    FROM days
    WHERE department_a = department_b
    GROUP BY department_a
),
pairs AS (
    SELECT department_a, department_b, SUM(orders) AS pair_orders
    FROM days
    WHERE department_b > department_a
    GROUP BY department_a, department_b
)
SELECT
    p.department_a,
    p.department_b,
    CAST(p.pair_orders AS BIGINT) AS pair_orders,
    CAST(oa.orders AS BIGINT) AS orders_a,
    CAST(ob.orders AS BIGINT) AS orders_b,
    CAST(p.pair_orders AS DOUBLE) / t.baskets AS support,
    CAST(p.pair_orders AS DOUBLE) / oa.orders AS confidence_a_to_b,
    CAST(p.pair_orders AS DOUBLE) / ob.orders AS confidence_b_to_a,
    CAST(p.pair_orders AS DOUBLE) * t.baskets / (CAST(oa.orders AS DOUBLE) * ob.orders) AS lift
FROM pairs AS p
CROSS JOIN total AS t
JOIN department_orders AS oa ON oa.department = p.department_a
JOIN department_orders AS ob ON ob.department = p.department_b
