/*
name = "customer_segments"
refresh = "full"
depends_on = ["customer_profile"]
grain = "one row per customer (user_id) with at least one order"
freshness = "budget"
description = """
RFM segmentation. Recency = days from the customer's last order date to the newest order date
of all customers; frequency = orders; monetary = spend (sum of total_amount, decimal(18,2)).
Each is scored 1-5 by rank among all customers, worst to best (less recent, fewer orders, less
spend score low): score = 1 + floor(5 * (rank - 1) / customers), where rank is the SQL RANK()
(ties share a score). Segments, first match wins:
champions (r>=4, f>=4, m>=4); loyal (r>=3, f>=4); new (one order, r>=4);
potential_loyalist (r>=4); at_risk (r<=2, f>=3); hibernating (r<=2, f<=2);
need_attention (the rest). Scores are relative to all customers, so the model is rebuilt in
full."""

[columns]
user_id = "Customer."
last_order_date = "Date of the latest order (UTC)."
as_of_date = "Newest order date over all customers: recency is measured to it."
recency_days = "Days from last_order_date to as_of_date."
frequency = "Orders placed."
monetary = "Spend: sum of total_amount, decimal(18,2)."
r_score = "Recency score 1-5 (5 = most recent)."
f_score = "Frequency score 1-5 (5 = most orders)."
m_score = "Monetary score 1-5 (5 = highest spend)."
rfm_cell = "r_score * 100 + f_score * 10 + m_score."
segment = "champions, loyal, new, potential_loyalist, at_risk, hibernating or need_attention."
*/
WITH base AS (
    SELECT
        user_id,
        last_order_date,
        MAX(last_order_date) OVER () AS as_of_date,
        orders AS frequency,
        spend AS monetary
    FROM gold.customer_profile
),
ranked AS (
    SELECT
        user_id,
        last_order_date,
        as_of_date,
        DATE_DIFF('day', last_order_date, as_of_date) AS recency_days,
        frequency,
        monetary,
        RANK() OVER (ORDER BY last_order_date) AS r_rank,
        RANK() OVER (ORDER BY frequency) AS f_rank,
        RANK() OVER (ORDER BY monetary) AS m_rank,
        COUNT(*) OVER () AS customers
    FROM base
),
scored AS (
    SELECT
        user_id,
        last_order_date,
        as_of_date,
        CAST(recency_days AS BIGINT) AS recency_days,
        frequency,
        monetary,
        1 + CAST(FLOOR(5 * (r_rank - 1) / CAST(customers AS DOUBLE)) AS BIGINT) AS r_score,
        1 + CAST(FLOOR(5 * (f_rank - 1) / CAST(customers AS DOUBLE)) AS BIGINT) AS f_score,
        1 + CAST(FLOOR(5 * (m_rank - 1) / CAST(customers AS DOUBLE)) AS BIGINT) AS m_score
    FROM ranked
)
SELECT
    user_id,
    last_order_date,
    as_of_date,
    recency_days,
    frequency,
    monetary,
    r_score,
    f_score,
    m_score,
    r_score * 100 + f_score * 10 + m_score AS rfm_cell,
    CASE
        WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN 'champions'
        WHEN r_score >= 3 AND f_score >= 4 THEN 'loyal'
        WHEN frequency = 1 AND r_score >= 4 THEN 'new'
        WHEN r_score >= 4 THEN 'potential_loyalist'
        WHEN r_score <= 2 AND f_score >= 3 THEN 'at_risk'
        WHEN r_score <= 2 THEN 'hibernating'
        ELSE 'need_attention'
    END AS segment
FROM scored
