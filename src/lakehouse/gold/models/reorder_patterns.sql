/*
name = "reorder_patterns"
refresh = "by_product"
grain = "one row per product that has order lines"
freshness = "budget"
description = """
Reorder behaviour per product: how often its lines are reorders (the shop's `reordered` flag),
where reordered and first-time lines sit in the cart, and how long customers take to buy it
again. Time to reorder is measured two ways: the shop's days_since_prior_order on reordered lines,
and the actual time between two consecutive orders of the same customer that contain the product
(from order timestamps). The sums and counts behind each average are kept so that
gold.reorder_patterns_department can add them up exactly. It reads every line of the products a
run touched, and a day's orders touch nearly the whole catalog, so it refreshes within the
staleness budget (`[gold] staleness_minutes`; 0 refreshes the touched products every run)."""

[columns]
product_id = "Product."
product_name = "Product display name."
department = "Product department."
lines = "Order lines of the product."
reordered_lines = "Lines flagged reordered = 1."
first_time_lines = "Lines flagged reordered = 0."
reorder_rate = "reordered_lines / lines (double)."
customers = "Distinct customers who bought the product."
repeat_customers = "Customers who bought it in two or more orders."
repeat_customer_rate = "repeat_customers / customers (double)."
avg_cart_position_reordered = "Mean add_to_cart_order of reordered lines (double); null when none."
avg_cart_position_first_time = "Mean add_to_cart_order of first-time lines (double); null when none."
avg_days_since_prior_order_reordered = "Mean days_since_prior_order of reordered lines that carry one (double)."
repurchases = "Consecutive pairs of a customer's orders that both contain the product."
avg_days_to_repurchase = "Mean days between those two orders (double, from order timestamps); null when none."
cart_position_sum_reordered = "Sum of add_to_cart_order over reordered lines."
cart_position_sum_first_time = "Sum of add_to_cart_order over first-time lines."
days_since_prior_sum_reordered = "Sum of days_since_prior_order over reordered lines that carry one."
days_since_prior_count_reordered = "Reordered lines that carry a days_since_prior_order."
repurchase_seconds = "Sum of seconds between the order pairs counted in repurchases."
*/
WITH lines AS (
    SELECT
        i.product_id,
        i.order_id,
        i.user_id,
        i.order_timestamp,
        i.add_to_cart_order,
        i.reordered,
        i.days_since_prior_order
    FROM silver.order_items AS i
),
purchases AS (
    SELECT user_id, product_id, order_id, order_timestamp
    FROM lines
    GROUP BY user_id, product_id, order_id, order_timestamp
),
buyers AS (
    -- the gaps between a customer's consecutive orders of the product add up to the time
    -- from the first to the last of them: no window over every purchase is needed
    SELECT
        product_id,
        COUNT(*) AS customers,
        SUM(CASE WHEN purchase_count > 1 THEN 1 ELSE 0 END) AS repeat_customers,
        CAST(SUM(purchase_count - 1) AS BIGINT) AS repurchases,
        CAST(SUM(span_seconds) AS BIGINT) AS repurchase_seconds
    FROM (
        SELECT
            product_id,
            user_id,
            COUNT(*) AS purchase_count,
            DATE_DIFF('second', MIN(order_timestamp), MAX(order_timestamp)) AS span_seconds
        FROM purchases
        GROUP BY product_id, user_id
    ) AS per_user
    GROUP BY product_id
),
stats AS (
    SELECT
        product_id,
        COUNT(*) AS lines,
        CAST(SUM(reordered) AS BIGINT) AS reordered_lines,
        CAST(SUM(CASE WHEN reordered = 1 THEN add_to_cart_order ELSE 0 END) AS BIGINT)
            AS cart_position_sum_reordered,
        CAST(SUM(CASE WHEN reordered = 1 THEN 0 ELSE add_to_cart_order END) AS BIGINT)
            AS cart_position_sum_first_time,
        CAST(SUM(CASE WHEN reordered = 1 THEN days_since_prior_order END) AS BIGINT)
            AS days_since_prior_sum_reordered,
        COUNT(CASE WHEN reordered = 1 THEN days_since_prior_order END)
            AS days_since_prior_count_reordered
    FROM lines
    GROUP BY product_id
)
SELECT
    s.product_id,
    p.product_name,
    p.department,
    s.lines,
    s.reordered_lines,
    s.lines - s.reordered_lines AS first_time_lines,
    CAST(s.reordered_lines AS DOUBLE) / s.lines AS reorder_rate,
    b.customers,
    CAST(b.repeat_customers AS BIGINT) AS repeat_customers,
    CAST(b.repeat_customers AS DOUBLE) / b.customers AS repeat_customer_rate,
    CAST(s.cart_position_sum_reordered AS DOUBLE)
    / NULLIF(s.reordered_lines, 0) AS avg_cart_position_reordered,
    CAST(s.cart_position_sum_first_time AS DOUBLE)
    / NULLIF(s.lines - s.reordered_lines, 0) AS avg_cart_position_first_time,
    CAST(s.days_since_prior_sum_reordered AS DOUBLE)
    / NULLIF(s.days_since_prior_count_reordered, 0) AS avg_days_since_prior_order_reordered,
    b.repurchases,
    CAST(b.repurchase_seconds AS DOUBLE)
    / (86400 * NULLIF(b.repurchases, 0)) AS avg_days_to_repurchase,
    s.cart_position_sum_reordered,
    s.cart_position_sum_first_time,
    COALESCE(s.days_since_prior_sum_reordered, 0) AS days_since_prior_sum_reordered,
    s.days_since_prior_count_reordered,
    COALESCE(b.repurchase_seconds, 0) AS repurchase_seconds
FROM stats AS s
JOIN silver.products AS p ON p.product_id = s.product_id
JOIN buyers AS b ON b.product_id = s.product_id
