/*
name = "cohort_retention"
refresh = "full"
grain = "one row per weekly cohort and week offset in which cohort customers ordered"
freshness = "budget"
description = """
Weekly cohort retention: customers are grouped by the ISO week (UTC) of their first order; for
each later week in which some of them ordered, the number of active customers and the share of
the cohort they are. Week offset 0 is the cohort's own week (retention 1.0). Revenue is the sum
of total_amount (decimal(18,2)), as charged."""

[columns]
cohort_week = "Monday of the ISO week of the customers' first order (UTC)."
week_offset = "Weeks since cohort_week (0 = the cohort's own week)."
activity_week = "Monday of the week measured: cohort_week + week_offset weeks."
cohort_size = "Customers whose first order fell in cohort_week."
active_customers = "Cohort customers who ordered in activity_week."
retention_rate = "active_customers / cohort_size (double)."
orders = "Orders of cohort customers in activity_week."
revenue = "Sum of those orders' total_amount, decimal(18,2)."
*/
WITH first_orders AS (
    SELECT user_id, CAST(DATE_TRUNC('week', MIN(date)) AS DATE) AS cohort_week
    FROM silver.orders
    GROUP BY user_id
),
activity AS (
    SELECT
        f.cohort_week,
        CAST(DATE_TRUNC('week', o.date) AS DATE) AS activity_week,
        o.user_id,
        o.total_amount
    FROM silver.orders AS o
    JOIN first_orders AS f ON f.user_id = o.user_id
),
sizes AS (
    SELECT cohort_week, COUNT(*) AS cohort_size FROM first_orders GROUP BY cohort_week
),
cells AS (
    SELECT
        cohort_week,
        activity_week,
        COUNT(DISTINCT user_id) AS active_customers,
        COUNT(*) AS orders,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue
    FROM activity
    GROUP BY cohort_week, activity_week
)
SELECT
    c.cohort_week,
    CAST(DATE_DIFF('day', c.cohort_week, c.activity_week) / 7 AS BIGINT) AS week_offset,
    c.activity_week,
    s.cohort_size,
    c.active_customers,
    CAST(c.active_customers AS DOUBLE) / s.cohort_size AS retention_rate,
    c.orders,
    c.revenue
FROM cells AS c
JOIN sizes AS s ON s.cohort_week = c.cohort_week
