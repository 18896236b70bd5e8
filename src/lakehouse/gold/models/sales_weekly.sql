/*
name = "sales_weekly"
refresh = "by_date"
key = "week_start"
period = "week"
lookback = 1
grain = "one row per ISO week (Monday to Sunday, UTC) that has orders"
freshness = "every run"
description = """
Weekly sales: orders, revenue, average order value, items and distinct customers per ISO week,
with the change against the previous week. Revenue is the sum of the orders' total_amount
(decimal(18,2)), as charged; items count units (quantity null -> 1). A week without orders has no
row, and the change columns of the week after it are null."""

[columns]
week_start = "Monday that starts the ISO week (UTC)."
days = "Days of the week that have orders."
orders = "Orders placed in the week."
revenue = "Sum of total_amount of those orders, decimal(18,2)."
aov = "Average order value: revenue / orders (double)."
items = "Units bought: sum of order_items.quantity (null counts as 1)."
lines = "Order lines."
items_per_order = "items / orders (double)."
customers = "Distinct customers who ordered in the week."
prev_orders = "orders of the previous week; null when it had none."
prev_revenue = "revenue of the previous week; null when it had none."
orders_change_rate = "(orders - prev_orders) / prev_orders as a fraction (0.1 = +10 %)."
revenue_change = "revenue - prev_revenue, decimal(18,2)."
revenue_change_rate = "(revenue - prev_revenue) / prev_revenue as a fraction; null when prev is null or 0."
*/
WITH orders_by_week AS (
    SELECT
        CAST(DATE_TRUNC('week', date) AS DATE) AS week_start,
        COUNT(DISTINCT date) AS days,
        COUNT(*) AS orders,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue,
        COUNT(DISTINCT user_id) AS customers
    FROM silver.orders
    GROUP BY CAST(DATE_TRUNC('week', date) AS DATE)
),
items_by_week AS (
    SELECT
        CAST(DATE_TRUNC('week', date) AS DATE) AS week_start,
        CAST(SUM(COALESCE(quantity, 1)) AS BIGINT) AS items,
        COUNT(*) AS lines
    FROM silver.order_items
    GROUP BY CAST(DATE_TRUNC('week', date) AS DATE)
),
weekly AS (
    SELECT
        o.week_start,
        o.days,
        o.orders,
        o.revenue,
        o.customers,
        COALESCE(i.items, 0) AS items,
        COALESCE(i.lines, 0) AS lines
    FROM orders_by_week AS o
    LEFT JOIN items_by_week AS i ON i.week_start = o.week_start
)
SELECT
    w.week_start,
    w.days,
    w.orders,
    w.revenue,
    CAST(w.revenue AS DOUBLE) / w.orders AS aov,
    w.items,
    w.lines,
    CAST(w.items AS DOUBLE) / w.orders AS items_per_order,
    w.customers,
    p.orders AS prev_orders,
    p.revenue AS prev_revenue,
    CAST(w.orders - p.orders AS DOUBLE) / p.orders AS orders_change_rate,
    CAST(w.revenue - p.revenue AS DECIMAL(18, 2)) AS revenue_change,
    CASE
        WHEN p.revenue > 0 THEN CAST(w.revenue - p.revenue AS DOUBLE) / CAST(p.revenue AS DOUBLE)
    END AS revenue_change_rate
FROM weekly AS w
LEFT JOIN weekly AS p ON p.week_start = CAST(w.week_start - INTERVAL 7 DAY AS DATE)
