/*
name = "order_value_distribution"
refresh = "full"
grain = "one row per order value bucket (fixed edges, empty buckets included)"
freshness = "budget"
description = """
Histogram of order values (orders.total_amount, as charged) over fixed bucket edges 0, 10, 20,
30, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 5000 and above, with the
global percentiles p10, p25, p50, p75, p90 and p99 repeated on every row. Percentiles are exact
and interpolate linearly between the two nearest orders (like percentile_cont and numpy's
default): position (n - 1) * p in the sorted values, computed in decimal arithmetic so every
engine gives the same value; they are null when there are no orders."""

[columns]
bucket = "Bucket number, 1 = lowest values."
lower_bound = "Lowest order value in the bucket (inclusive), decimal(12,2)."
upper_bound = "Upper bound (exclusive), decimal(12,2); null for the last bucket."
orders = "Orders whose total_amount falls in the bucket."
revenue = "Sum of their total_amount, decimal(18,2)."
order_share = "orders / all orders (double); null when there are no orders."
cumulative_order_share = "Share of orders in this bucket and every lower one (double)."
p10 = "10th percentile of order value over all orders (double)."
p25 = "25th percentile of order value (double)."
p50 = "Median order value (double)."
p75 = "75th percentile of order value (double)."
p90 = "90th percentile of order value (double)."
p99 = "99th percentile of order value (double)."
*/
WITH order_values AS (
    SELECT total_amount AS order_value FROM silver.orders
),
buckets AS (
    SELECT
        CAST(bucket AS BIGINT) AS bucket,
        CAST(lower_bound AS DECIMAL(12, 2)) AS lower_bound,
        CAST(upper_bound AS DECIMAL(12, 2)) AS upper_bound
    FROM (
        VALUES
            (1, 0, 10), (2, 10, 20), (3, 20, 30), (4, 30, 40), (5, 40, 50), (6, 50, 75),
            (7, 75, 100), (8, 100, 150), (9, 150, 200), (10, 200, 250), (11, 250, 300),
            (12, 300, 400), (13, 400, 500), (14, 500, 750), (15, 750, 1000), (16, 1000, 2000),
            (17, 2000, 5000), (18, 5000, NULL)
    ) AS edges (bucket, lower_bound, upper_bound)
),
counts AS (
    SELECT
        b.bucket,
        b.lower_bound,
        b.upper_bound,
        COUNT(v.order_value) AS orders,
        CAST(COALESCE(SUM(v.order_value), 0) AS DECIMAL(18, 2)) AS revenue
    FROM buckets AS b
    LEFT JOIN order_values AS v
        ON v.order_value >= b.lower_bound
        AND (b.upper_bound IS NULL OR v.order_value < b.upper_bound)
    GROUP BY b.bucket, b.lower_bound, b.upper_bound
),
ranked AS (
    SELECT order_value, ROW_NUMBER() OVER (ORDER BY order_value) - 1 AS row_index
    FROM order_values
),
wanted AS (
    SELECT
        q.pct,
        (n.orders - 1) * q.fraction AS exact_position,
        CAST(FLOOR((n.orders - 1) * q.fraction) AS BIGINT) AS low_position
    FROM (
        VALUES (10, 0.10), (25, 0.25), (50, 0.50), (75, 0.75), (90, 0.90), (99, 0.99)
    ) AS q (pct, fraction)
    CROSS JOIN (SELECT COUNT(*) AS orders FROM order_values) AS n
),
percentiles AS (
    SELECT
        w.pct,
        CAST(
            lo.order_value + (w.exact_position - w.low_position) * (hi.order_value - lo.order_value)
            AS DOUBLE
        ) AS order_value
    FROM wanted AS w
    JOIN ranked AS lo ON lo.row_index = w.low_position
    JOIN ranked AS hi ON hi.row_index = CASE
        WHEN w.exact_position > w.low_position THEN w.low_position + 1
        ELSE w.low_position
    END
),
wide AS (
    SELECT
        MAX(CASE WHEN pct = 10 THEN order_value END) AS p10,
        MAX(CASE WHEN pct = 25 THEN order_value END) AS p25,
        MAX(CASE WHEN pct = 50 THEN order_value END) AS p50,
        MAX(CASE WHEN pct = 75 THEN order_value END) AS p75,
        MAX(CASE WHEN pct = 90 THEN order_value END) AS p90,
        MAX(CASE WHEN pct = 99 THEN order_value END) AS p99
    FROM percentiles
),
total AS (
    SELECT COUNT(*) AS orders FROM order_values
)
SELECT
    c.bucket,
    c.lower_bound,
    c.upper_bound,
    c.orders,
    c.revenue,
    CAST(c.orders AS DOUBLE) / NULLIF(t.orders, 0) AS order_share,
    CAST(SUM(c.orders) OVER (ORDER BY c.bucket ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        AS DOUBLE) / NULLIF(t.orders, 0) AS cumulative_order_share,
    w.p10,
    w.p25,
    w.p50,
    w.p75,
    w.p90,
    w.p99
FROM counts AS c
CROSS JOIN total AS t
CROSS JOIN wide AS w
