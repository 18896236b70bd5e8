/*
name = "product_companions"
refresh = "full"
depends_on = ["product_pairs"]
grain = "one row per product and companion rank (up to 5 companions per product)"
freshness = "every run"
description = """
Top companions per product, from gold.product_pairs (so the same thresholds apply: a companion
shares at least 2 orders with the product and the pair is among the kept pairs). Companions are
ranked by confidence (share of the product's orders that also hold the companion), then by lift,
then by companion id; the top 5 are kept."""

[columns]
product_id = "Product."
product_name = "Product display name."
companion_rank = "1 = the strongest companion."
companion_product_id = "Companion product."
companion_name = "Companion display name."
companion_department = "Companion department."
pair_orders = "Orders that hold both."
confidence = "pair_orders / orders of product_id (double)."
lift = "Lift of the pair (double)."
*/
WITH directed AS (
    SELECT
        product_a AS product_id,
        product_b AS companion_product_id,
        pair_orders,
        orders_b AS companion_orders,
        confidence_a_to_b AS confidence,
        lift
    FROM gold.product_pairs
    UNION ALL
    SELECT
        product_b AS product_id,
        product_a AS companion_product_id,
        pair_orders,
        orders_a AS companion_orders,
        confidence_b_to_a AS confidence,
        lift
    FROM gold.product_pairs
),
ranked AS (
    SELECT
        directed.*,
        ROW_NUMBER() OVER (
            PARTITION BY product_id
            ORDER BY pair_orders DESC, companion_orders, companion_product_id
        ) AS companion_rank
    FROM directed
)
SELECT
    r.product_id,
    p.product_name,
    r.companion_rank,
    r.companion_product_id,
    c.product_name AS companion_name,
    c.department AS companion_department,
    r.pair_orders,
    r.confidence,
    r.lift
FROM ranked AS r
JOIN silver.products AS p ON p.product_id = r.product_id
JOIN silver.products AS c ON c.product_id = r.companion_product_id
WHERE r.companion_rank <= 5
