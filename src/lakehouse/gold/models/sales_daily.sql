/*
name = "sales_daily"
refresh = "by_date"
key = "date"
period = "day"
lookback = 1
grain = "one row per order date (UTC) that has orders"
freshness = "every run"
description = """
Daily sales: orders, revenue, average order value, items and customers per order date, with the
change against the previous calendar day. Revenue is the sum of the orders' total_amount
(decimal(18,2)), as charged; items count units (order_items.quantity, null -> 1). A day without
orders has no row, and the change columns of the day after it are null."""

[columns]
date = "Order date (UTC)."
orders = "Orders placed that day."
revenue = "Sum of total_amount of those orders, decimal(18,2)."
aov = "Average order value: revenue / orders (double)."
items = "Units bought: sum of order_items.quantity (null counts as 1)."
lines = "Order lines."
items_per_order = "items / orders (double)."
customers = "Distinct customers who ordered that day."
prev_orders = "orders of the previous calendar day; null when it had none."
prev_revenue = "revenue of the previous calendar day; null when it had none."
orders_change_rate = "(orders - prev_orders) / prev_orders as a fraction (0.1 = +10 %)."
revenue_change = "revenue - prev_revenue, decimal(18,2)."
revenue_change_rate = "(revenue - prev_revenue) / prev_revenue as a fraction; null when prev is null or 0."
*/
WITH orders_by_day AS (
    SELECT
        date,
        COUNT(*) AS orders,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue,
        COUNT(DISTINCT user_id) AS customers
    FROM silver.orders
    GROUP BY date
),
items_by_day AS (
    SELECT
        date,
        CAST(SUM(COALESCE(quantity, 1)) AS BIGINT) AS items,
        COUNT(*) AS lines
    FROM silver.order_items
    GROUP BY date
),
daily AS (
    SELECT
        o.date,
        o.orders,
        o.revenue,
        o.customers,
        COALESCE(i.items, 0) AS items,
        COALESCE(i.lines, 0) AS lines
    FROM orders_by_day AS o
    LEFT JOIN items_by_day AS i ON i.date = o.date
)
SELECT
    d.date,
    d.orders,
    d.revenue,
    CAST(d.revenue AS DOUBLE) / d.orders AS aov,
    d.items,
    d.lines,
    CAST(d.items AS DOUBLE) / d.orders AS items_per_order,
    d.customers,
    p.orders AS prev_orders,
    p.revenue AS prev_revenue,
    CAST(d.orders - p.orders AS DOUBLE) / p.orders AS orders_change_rate,
    CAST(d.revenue - p.revenue AS DECIMAL(18, 2)) AS revenue_change,
    CASE
        WHEN p.revenue > 0 THEN CAST(d.revenue - p.revenue AS DOUBLE) / CAST(p.revenue AS DOUBLE)
    END AS revenue_change_rate
FROM daily AS d
LEFT JOIN daily AS p ON p.date = CAST(d.date - INTERVAL 1 DAY AS DATE)
