/*
name = "sales_monthly"
refresh = "by_date"
key = "month_start"
period = "month"
lookback = 1
grain = "one row per calendar month (UTC) that has orders"
freshness = "every run"
description = """
Monthly sales: orders, revenue, average order value, items and distinct customers per calendar
month, with the change against the previous month. Revenue is the sum of the orders' total_amount
(decimal(18,2)), as charged; items count units (quantity null -> 1). A month without orders has no
row, and the change columns of the month after it are null."""

[columns]
month_start = "First day of the month (UTC)."
days = "Days of the month that have orders."
orders = "Orders placed in the month."
revenue = "Sum of total_amount of those orders, decimal(18,2)."
aov = "Average order value: revenue / orders (double)."
items = "Units bought: sum of order_items.quantity (null counts as 1)."
lines = "Order lines."
items_per_order = "items / orders (double)."
customers = "Distinct customers who ordered in the month."
prev_orders = "orders of the previous month; null when it had none."
prev_revenue = "revenue of the previous month; null when it had none."
orders_change_rate = "(orders - prev_orders) / prev_orders as a fraction (0.1 = +10 %)."
revenue_change = "revenue - prev_revenue, decimal(18,2)."
revenue_change_rate = "(revenue - prev_revenue) / prev_revenue as a fraction; null when prev is null or 0."
*/
WITH orders_by_month AS (
    SELECT
        CAST(DATE_TRUNC('month', date) AS DATE) AS month_start,
        COUNT(DISTINCT date) AS days,
        COUNT(*) AS orders,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue,
        COUNT(DISTINCT user_id) AS customers
    FROM silver.orders
    GROUP BY CAST(DATE_TRUNC('month', date) AS DATE)
),
items_by_month AS (
    SELECT
        CAST(DATE_TRUNC('month', date) AS DATE) AS month_start,
        CAST(SUM(COALESCE(quantity, 1)) AS BIGINT) AS items,
        COUNT(*) AS lines
    FROM silver.order_items
    GROUP BY CAST(DATE_TRUNC('month', date) AS DATE)
),
monthly AS (
    SELECT
        o.month_start,
        o.days,
        o.orders,
        o.revenue,
        o.customers,
        COALESCE(i.items, 0) AS items,
        COALESCE(i.lines, 0) AS lines
    FROM orders_by_month AS o
    LEFT JOIN items_by_month AS i ON i.month_start = o.month_start
)
SELECT
    w.month_start,
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
FROM monthly AS w
LEFT JOIN monthly AS p ON p.month_start = CAST(w.month_start - INTERVAL 1 MONTH AS DATE)
