/*
name = "segment_summary"
refresh = "full"
depends_on = ["customer_segments"]
grain = "one row per customer segment (all seven, empty ones included)"
freshness = "budget"
description = """
Size and value of each RFM segment of gold.customer_segments: customers, orders, revenue (sum of
total_amount, decimal(18,2), as charged), their shares, and the segment's average recency,
frequency and monetary value."""

[columns]
segment = "Customer segment."
segment_order = "Display order: 1 = champions ... 7 = hibernating."
customers = "Customers in the segment."
customer_share = "customers / all customers (double); null when there are none."
orders = "Orders of those customers."
revenue = "Their spend, decimal(18,2)."
revenue_share = "revenue / all revenue (double); null when all revenue is 0."
avg_recency_days = "Mean recency_days (double); null for an empty segment."
avg_frequency = "Mean orders per customer (double); null for an empty segment."
avg_monetary = "Mean spend per customer (double); null for an empty segment."
*/
WITH segments AS (
    SELECT CAST(segment AS VARCHAR) AS segment, CAST(segment_order AS BIGINT) AS segment_order
    FROM (
        VALUES
            ('champions', 1), ('loyal', 2), ('potential_loyalist', 3), ('new', 4),
            ('need_attention', 5), ('at_risk', 6), ('hibernating', 7)
    ) AS s (segment, segment_order)
),
sizes AS (
    SELECT
        segment,
        COUNT(*) AS customers,
        CAST(SUM(frequency) AS BIGINT) AS orders,
        CAST(SUM(monetary) AS DECIMAL(18, 2)) AS revenue,
        CAST(SUM(recency_days) AS BIGINT) AS recency_days
    FROM gold.customer_segments
    GROUP BY segment
),
totals AS (
    SELECT COUNT(*) AS customers, CAST(SUM(monetary) AS DECIMAL(18, 2)) AS revenue
    FROM gold.customer_segments
)
SELECT
    s.segment,
    s.segment_order,
    COALESCE(z.customers, 0) AS customers,
    CAST(COALESCE(z.customers, 0) AS DOUBLE) / NULLIF(t.customers, 0) AS customer_share,
    COALESCE(z.orders, 0) AS orders,
    COALESCE(z.revenue, CAST(0 AS DECIMAL(18, 2))) AS revenue,
    CAST(COALESCE(z.revenue, 0) AS DOUBLE) / NULLIF(CAST(t.revenue AS DOUBLE), 0) AS revenue_share,
    CAST(z.recency_days AS DOUBLE) / z.customers AS avg_recency_days,
    CAST(z.orders AS DOUBLE) / z.customers AS avg_frequency,
    CAST(z.revenue AS DOUBLE) / z.customers AS avg_monetary
FROM segments AS s
CROSS JOIN totals AS t
LEFT JOIN sizes AS z ON z.segment = s.segment
