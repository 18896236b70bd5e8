/*
name = "payment_methods_by_segment"
refresh = "full"
depends_on = ["customer_segments"]
grain = "one row per customer segment and payment method used in it"
freshness = "budget"
description = """
Payment methods per customer segment (gold.customer_segments): orders, customers, revenue,
average order value and share of the segment's orders. An order without a payment_method counts
as 'unknown'. Revenue is the sum of the orders' total_amount (decimal(18,2)), as charged."""

[columns]
segment = "Customer segment (see gold.customer_segments)."
payment_method = "Payment method; 'unknown' when the shop did not send one."
orders = "Orders of the segment's customers paid that way."
customers = "Distinct customers of the segment who paid that way at least once."
revenue = "Sum of their total_amount, decimal(18,2)."
aov = "revenue / orders (double)."
order_share = "orders / all orders of the segment (double)."
*/
WITH by_segment AS (
    SELECT
        s.segment,
        COALESCE(o.payment_method, 'unknown') AS payment_method,
        COUNT(*) AS orders,
        COUNT(DISTINCT o.user_id) AS customers,
        CAST(SUM(o.total_amount) AS DECIMAL(18, 2)) AS revenue
    FROM silver.orders AS o
    JOIN gold.customer_segments AS s ON s.user_id = o.user_id
    GROUP BY s.segment, COALESCE(o.payment_method, 'unknown')
)
SELECT
    segment,
    payment_method,
    orders,
    customers,
    revenue,
    CAST(revenue AS DOUBLE) / orders AS aov,
    CAST(orders AS DOUBLE) / SUM(orders) OVER (PARTITION BY segment) AS order_share
FROM by_segment
