/*
name = "payment_methods_weekly"
refresh = "by_date"
key = "week_start"
period = "week"
lookback = 1
grain = "one row per ISO week (UTC) and payment method used that week"
freshness = "every run"
description = """
Weekly trend of payment methods: orders, revenue, average order value and share of the week's
orders per payment method, with the change against the previous week. An order without a
payment_method counts as 'unknown'. Revenue is the sum of the orders' total_amount
(decimal(18,2)), as charged."""

[columns]
week_start = "Monday that starts the ISO week (UTC)."
payment_method = "Payment method; 'unknown' when the shop did not send one."
orders = "Orders paid that way in the week."
revenue = "Sum of their total_amount, decimal(18,2)."
aov = "revenue / orders (double)."
order_share = "orders / all orders of the week (double)."
prev_orders = "Orders paid that way in the previous week; null when none."
prev_order_share = "order_share in the previous week (double); null when none."
orders_change_rate = "(orders - prev_orders) / prev_orders as a fraction; null when prev_orders is null."
order_share_change = "order_share - prev_order_share (double): the change in share, in share points."
*/
WITH weekly AS (
    SELECT
        CAST(DATE_TRUNC('week', date) AS DATE) AS week_start,
        COALESCE(payment_method, 'unknown') AS payment_method,
        COUNT(*) AS orders,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue
    FROM silver.orders
    GROUP BY CAST(DATE_TRUNC('week', date) AS DATE), COALESCE(payment_method, 'unknown')
),
shares AS (
    SELECT
        week_start,
        payment_method,
        orders,
        revenue,
        CAST(orders AS DOUBLE) / SUM(orders) OVER (PARTITION BY week_start) AS order_share
    FROM weekly
)
SELECT
    w.week_start,
    w.payment_method,
    w.orders,
    w.revenue,
    CAST(w.revenue AS DOUBLE) / w.orders AS aov,
    w.order_share,
    p.orders AS prev_orders,
    p.order_share AS prev_order_share,
    CAST(w.orders - p.orders AS DOUBLE) / p.orders AS orders_change_rate,
    w.order_share - p.order_share AS order_share_change
FROM shares AS w
LEFT JOIN shares AS p
    ON p.week_start = CAST(w.week_start - INTERVAL 7 DAY AS DATE)
    AND p.payment_method = w.payment_method
