/*
name = "line_revenue"
refresh = "ephemeral"
grain = "one row per order line (silver.order_items.id)"
description = """
Order lines with their revenue; never written, inlined where a model reads gold.line_revenue.
Revenue rule: a line with a unit_price earns unit_price * quantity (quantity null -> 1).
Lines without a unit_price share what is left of their order's total_amount after the priced
lines (never below 0) in proportion to their quantity, to the cent: each line gets the floor of
its share and the cents left over go one each to the lines with the largest remainders (then the
lowest line id), so an order without prices sums exactly to its total_amount. Revenue is
decimal(18,2) everywhere. Orders whose every line has a price skip the allocation (and the join
to silver.orders): it would give each line its own price * quantity anyway."""

[columns]
id = "Order line id."
order_id = "Order of the line."
user_id = "Customer."
product_id = "Product bought."
date = "Order date (UTC)."
order_timestamp = "Order time (UTC)."
add_to_cart_order = "Position of the line in the cart."
reordered = "1 when the customer bought the product before, else 0."
days_since_prior_order = "As sent by the shop (may be null)."
quantity = "Units on the line; null in silver counts as 1."
unit_price = "Price per unit when the shop sent one, else null."
revenue = "Revenue of the line, decimal(18,2): priced, or allocated from the order total."
*/
WITH unpriced_orders AS (
    SELECT DISTINCT order_id FROM silver.order_items WHERE unit_price IS NULL
),
priced AS (
    SELECT
        i.id,
        i.order_id,
        i.user_id,
        i.product_id,
        i.date,
        i.order_timestamp,
        i.add_to_cart_order,
        i.reordered,
        i.days_since_prior_order,
        COALESCE(i.quantity, 1) AS quantity,
        i.unit_price,
        CAST(i.unit_price * COALESCE(i.quantity, 1) AS DECIMAL(18, 2)) AS revenue
    FROM silver.order_items AS i
    LEFT JOIN unpriced_orders AS u ON u.order_id = i.order_id
    WHERE u.order_id IS NULL
),
lines AS (
    SELECT
        i.id,
        i.order_id,
        i.user_id,
        i.product_id,
        i.date,
        i.order_timestamp,
        i.add_to_cart_order,
        i.reordered,
        i.days_since_prior_order,
        COALESCE(i.quantity, 1) AS quantity,
        i.unit_price,
        CAST(o.total_amount * 100 AS BIGINT) AS order_cents,
        CASE WHEN i.unit_price IS NULL THEN COALESCE(i.quantity, 1) ELSE 0 END AS weight,
        CASE
            WHEN i.unit_price IS NULL THEN 0
            ELSE CAST(i.unit_price * COALESCE(i.quantity, 1) * 100 AS BIGINT)
        END AS priced_cents
    FROM silver.order_items AS i
    JOIN unpriced_orders AS u ON u.order_id = i.order_id
    JOIN silver.orders AS o ON o.order_id = i.order_id
),
pools AS (
    SELECT
        lines.*,
        CAST(SUM(weight) OVER (PARTITION BY order_id) AS BIGINT) AS order_weight,
        CAST(
            GREATEST(order_cents - SUM(priced_cents) OVER (PARTITION BY order_id), 0) AS BIGINT
        ) AS pool_cents
    FROM lines
),
shares AS (
    SELECT
        pools.*,
        CASE WHEN weight = 0 THEN 0 ELSE (pool_cents * weight) // order_weight END AS base_cents,
        CASE WHEN weight = 0 THEN 0 ELSE (pool_cents * weight) % order_weight END AS remainder
    FROM pools
),
ranked AS (
    SELECT
        shares.*,
        CAST(pool_cents - SUM(base_cents) OVER (PARTITION BY order_id) AS BIGINT) AS leftover_cents,
        ROW_NUMBER() OVER (
            PARTITION BY order_id
            ORDER BY CASE WHEN weight = 0 THEN 1 ELSE 0 END, remainder DESC, id
        ) AS remainder_rank
    FROM shares
)
SELECT
    id,
    order_id,
    user_id,
    product_id,
    date,
    order_timestamp,
    add_to_cart_order,
    reordered,
    days_since_prior_order,
    quantity,
    unit_price,
    CASE
        WHEN unit_price IS NOT NULL THEN CAST(unit_price * quantity AS DECIMAL(18, 2))
        ELSE CAST(
            CAST(
                base_cents + CASE WHEN remainder_rank <= leftover_cents THEN 1 ELSE 0 END
                AS DECIMAL(18, 0)
            ) * 0.01 AS DECIMAL(18, 2)
        )
    END AS revenue
FROM ranked
UNION ALL
SELECT * FROM priced
