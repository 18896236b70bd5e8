/*
name = "product_pairs"
refresh = "full"
grain = "one row per unordered pair of products (product_a < product_b) bought together in at least 2 orders; the top 100,000 pairs"
freshness = "budget"
description = """
Market-basket pairs: how often two products are in the same order, with support, confidence
both ways and lift. A basket is the set of distinct products of an order (an order with the same
product on two lines counts it once); every order with lines is a basket. support = pair_orders
/ baskets; confidence_a_to_b = pair_orders / orders_a; lift = pair_orders * baskets / (orders_a *
orders_b). To bound memory on large data, pairs are counted only in baskets of 2 to 50 distinct
products, a pair needs pair_orders >= 2, and only the 100,000 pairs with the most orders are kept
(ties: higher lift, then lower product ids)."""

[columns]
product_a = "Lower product id of the pair."
product_b = "Higher product id of the pair."
pair_orders = "Baskets that contain both products."
orders_a = "Baskets that contain product_a."
orders_b = "Baskets that contain product_b."
support = "pair_orders / baskets (double)."
confidence_a_to_b = "pair_orders / orders_a: share of product_a's baskets that also hold product_b (double)."
confidence_b_to_a = "pair_orders / orders_b (double)."
lift = "support / (support_a * support_b) = pair_orders * baskets / (orders_a * orders_b) (double)."
pair_rank = "Rank by pair_orders (then lift, then product ids), 1 = most frequent."
*/
WITH baskets AS (
    SELECT DISTINCT order_id, product_id FROM silver.order_items
),
basket_sizes AS (
    SELECT order_id, COUNT(*) AS products FROM baskets GROUP BY order_id
),
total AS (
    SELECT COUNT(*) AS baskets FROM basket_sizes
),
product_orders AS (
    SELECT product_id, COUNT(*) AS orders FROM baskets GROUP BY product_id
),
eligible AS (
    SELECT b.order_id, b.product_id
    FROM baskets AS b
    JOIN basket_sizes AS s ON s.order_id = b.order_id
    JOIN product_orders AS po ON po.product_id = b.product_id
    WHERE s.products BETWEEN 2 AND 50 AND po.orders >= 2
),
pairs AS (
    SELECT a.product_id AS product_a, b.product_id AS product_b, COUNT(*) AS pair_orders
    FROM eligible AS a
    JOIN eligible AS b ON b.order_id = a.order_id AND b.product_id > a.product_id
    GROUP BY a.product_id, b.product_id
    HAVING COUNT(*) >= 2
),
scored AS (
    SELECT
        p.product_a,
        p.product_b,
        p.pair_orders,
        oa.orders AS orders_a,
        ob.orders AS orders_b,
        CAST(p.pair_orders AS DOUBLE) / t.baskets AS support,
        CAST(p.pair_orders AS DOUBLE) / oa.orders AS confidence_a_to_b,
        CAST(p.pair_orders AS DOUBLE) / ob.orders AS confidence_b_to_a,
        CAST(p.pair_orders AS DOUBLE) * t.baskets / (CAST(oa.orders AS DOUBLE) * ob.orders) AS lift
    FROM pairs AS p
    CROSS JOIN total AS t
    JOIN product_orders AS oa ON oa.product_id = p.product_a
    JOIN product_orders AS ob ON ob.product_id = p.product_b
),
ranked AS (
    SELECT
        scored.*,
        ROW_NUMBER() OVER (
            ORDER BY pair_orders DESC, orders_a * orders_b, product_a, product_b
        ) AS pair_rank
    FROM scored
)
SELECT
    product_a,
    product_b,
    pair_orders,
    orders_a,
    orders_b,
    support,
    confidence_a_to_b,
    confidence_b_to_a,
    lift,
    pair_rank
FROM ranked
WHERE pair_rank <= 100000
