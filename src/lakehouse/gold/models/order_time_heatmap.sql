/*
name = "order_time_heatmap"
refresh = "full"
grain = "one row per ISO day of week and hour of day (7 x 24 rows, empty cells included)"
freshness = "budget"
description = """
When customers order: orders and revenue per ISO day of week (1 = Monday ... 7 = Sunday) and hour
of day (0-23) of order_timestamp, in UTC (engines must run with a UTC session time zone). Revenue
is the sum of the orders' total_amount (decimal(18,2)), as charged."""

[columns]
day_of_week = "ISO day of week of the order time (UTC): 1 = Monday ... 7 = Sunday."
hour = "Hour of the order time (UTC), 0-23."
orders = "Orders placed in that cell."
customers = "Distinct customers who ordered in that cell."
revenue = "Sum of their total_amount, decimal(18,2)."
aov = "revenue / orders (double); null when there are no orders."
order_share = "orders / all orders (double); null when there are no orders."
*/
WITH days AS (
    SELECT CAST(day_of_week AS BIGINT) AS day_of_week
    FROM (VALUES (1), (2), (3), (4), (5), (6), (7)) AS d (day_of_week)
),
hours AS (
    SELECT CAST(hour AS BIGINT) AS hour
    FROM (
        VALUES
            (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12), (13), (14), (15),
            (16), (17), (18), (19), (20), (21), (22), (23)
    ) AS h (hour)
),
cells AS (
    SELECT
        CAST(ISODOW(order_timestamp) AS BIGINT) AS day_of_week,
        CAST(EXTRACT(HOUR FROM order_timestamp) AS BIGINT) AS hour,
        COUNT(*) AS orders,
        COUNT(DISTINCT user_id) AS customers,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue
    FROM silver.orders
    GROUP BY
        CAST(ISODOW(order_timestamp) AS BIGINT),
        CAST(EXTRACT(HOUR FROM order_timestamp) AS BIGINT)
),
total AS (
    SELECT COUNT(*) AS orders FROM silver.orders
)
SELECT
    d.day_of_week,
    h.hour,
    COALESCE(c.orders, 0) AS orders,
    COALESCE(c.customers, 0) AS customers,
    COALESCE(c.revenue, CAST(0 AS DECIMAL(18, 2))) AS revenue,
    CAST(c.revenue AS DOUBLE) / c.orders AS aov,
    CAST(COALESCE(c.orders, 0) AS DOUBLE) / NULLIF(t.orders, 0) AS order_share
FROM days AS d
CROSS JOIN hours AS h
CROSS JOIN total AS t
LEFT JOIN cells AS c ON c.day_of_week = d.day_of_week AND c.hour = h.hour
