/*
name = "upsell_candidates"
refresh = "full"
depends_on = ["customer_segments"]
grain = "one row per customer and department where the customer buys but spends below the segment's median"
freshness = "budget"
description = """
Upsell candidates: customers who already buy in a department but spend less there than is
typical for their RFM segment (gold.customer_segments). Spend in a department is line revenue
over all history (decimal(18,2)): unit_price * quantity for priced lines; lines without a
unit_price share their order's total_amount (less the priced lines) in proportion to quantity,
to the cent. The typical spend is the median (mean of the two middle values for an even count)
of that spend over the segment's customers who buy in the department. Customers who never bought
in a department are not listed (that is cross-sell, not upsell)."""

[columns]
user_id = "Customer."
segment = "The customer's RFM segment."
department = "Department the customer buys in."
spend = "The customer's line revenue in the department, decimal(18,2)."
orders = "The customer's orders with a line in the department."
segment_buyers = "Customers of the segment who buy in the department."
segment_median_spend = "Median spend in the department over those customers (double)."
spend_gap = "segment_median_spend - spend (double, > 0)."
*/
WITH order_spend AS (
    SELECT l.user_id, p.department, l.order_id, SUM(l.revenue) AS spend
    FROM gold.line_revenue AS l
    JOIN silver.products AS p ON p.product_id = l.product_id
    GROUP BY l.user_id, p.department, l.order_id
),
spend AS (
    SELECT user_id, department, CAST(SUM(spend) AS DECIMAL(18, 2)) AS spend, COUNT(*) AS orders
    FROM order_spend
    GROUP BY user_id, department
),
in_segment AS (
    SELECT
        s.user_id,
        c.segment,
        s.department,
        s.spend,
        s.orders,
        ROW_NUMBER() OVER (
            PARTITION BY c.segment, s.department ORDER BY s.spend, s.user_id
        ) AS row_index,
        COUNT(*) OVER (PARTITION BY c.segment, s.department) AS buyers
    FROM spend AS s
    JOIN gold.customer_segments AS c ON c.user_id = s.user_id
),
medians AS (
    SELECT
        segment,
        department,
        MAX(buyers) AS buyers,
        SUM(
            CASE WHEN row_index IN ((buyers + 1) // 2, (buyers + 2) // 2) THEN spend END
        ) * MAX(CASE WHEN buyers % 2 = 0 THEN 0.5 ELSE 1.0 END) AS median_spend
    FROM in_segment
    GROUP BY segment, department
)
SELECT
    i.user_id,
    i.segment,
    i.department,
    i.spend,
    i.orders,
    m.buyers AS segment_buyers,
    CAST(m.median_spend AS DOUBLE) AS segment_median_spend,
    CAST(m.median_spend - i.spend AS DOUBLE) AS spend_gap
FROM in_segment AS i
JOIN medians AS m ON m.segment = i.segment AND m.department = i.department
WHERE i.spend < m.median_spend
