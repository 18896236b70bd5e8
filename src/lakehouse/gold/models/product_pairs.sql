/*
name = "product_pairs"
refresh = "full"
grain = "one row per unordered pair of products (product_a < product_b) bought together in at least 2 orders; the top 100,000 pairs"
freshness = "every run"
depends_on = ["product_pair_counts", "product_baskets", "basket_sizes"]
description = """
Market-basket pairs: how often two products are in the same order, with support, confidence
both ways and lift. A basket is the set of distinct products of an order (an order with the same
product on two lines counts it once); every order with lines is a basket. support = pair_orders
/ baskets; confidence_a_to_b = pair_orders / orders_a; lift = pair_orders * baskets / (orders_a *
orders_b). Pairs are counted only in baskets of 2 to 50 distinct products, a pair needs
pair_orders >= 2, and only the 100,000 pairs with the most orders are kept (ties: higher lift,
then lower product ids). The counts come from the running totals gold.product_pair_counts,
gold.product_baskets and gold.basket_sizes, which every run adds its dates to, so ranking them
is the whole refresh: it stays cheap whatever the history, and the table is current every run."""

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
WITH total AS (
    SELECT CAST(SUM(baskets) AS BIGINT) AS baskets FROM gold.basket_sizes
),
cutoff AS (
    -- the 100,000th highest pair_orders: no pair below it can rank in, so only the pairs at or
    -- above it are joined and scored (a tenth of them at 10 M items)
    SELECT MIN(pair_orders) AS pair_orders
    FROM (
        SELECT pair_orders
        FROM gold.product_pair_counts
        WHERE pair_orders >= 2
        ORDER BY pair_orders DESC
        LIMIT 100000
    ) AS top_counts
),
scored AS (
    SELECT
        p.product_a,
        p.product_b,
        p.pair_orders,
        oa.baskets AS orders_a,
        ob.baskets AS orders_b,
        CAST(p.pair_orders AS DOUBLE) / t.baskets AS support,
        CAST(p.pair_orders AS DOUBLE) / oa.baskets AS confidence_a_to_b,
        CAST(p.pair_orders AS DOUBLE) / ob.baskets AS confidence_b_to_a,
        CAST(p.pair_orders AS DOUBLE) * t.baskets / (CAST(oa.baskets AS DOUBLE) * ob.baskets) AS lift
    FROM gold.product_pair_counts AS p
    CROSS JOIN total AS t
    JOIN gold.product_baskets AS oa ON oa.product_id = p.product_a
    JOIN gold.product_baskets AS ob ON ob.product_id = p.product_b
    CROSS JOIN cutoff AS c
    WHERE p.pair_orders >= c.pair_orders
),
top_pairs AS (
    -- the first 100,000 in rank order (a total order: product ids break every tie), so only
    -- they are numbered
    SELECT *
    FROM scored
    ORDER BY pair_orders DESC, orders_a * orders_b, product_a, product_b
    LIMIT 100000
),
ranked AS (
    SELECT
        top_pairs.*,
        ROW_NUMBER() OVER (
            ORDER BY pair_orders DESC, orders_a * orders_b, product_a, product_b
        ) AS pair_rank
    FROM top_pairs
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
