/*
name = "payment_methods"
refresh = "full"
grain = "one row per payment method (null payment_method counts as 'unknown')"
freshness = "budget"
description = """
How orders are paid over all history: orders, customers, revenue, average order value and
shares per payment method. An order without a payment_method counts as 'unknown'. Revenue is the
sum of the orders' total_amount (decimal(18,2)), as charged."""

[columns]
payment_method = "Payment method; 'unknown' when the shop did not send one."
orders = "Orders paid that way."
customers = "Distinct customers who paid that way at least once."
revenue = "Sum of total_amount of those orders, decimal(18,2)."
aov = "revenue / orders (double)."
order_share = "orders / all orders (double)."
revenue_share = "revenue / all revenue (double); null when all revenue is 0."
*/
WITH by_method AS (
    SELECT
        COALESCE(payment_method, 'unknown') AS payment_method,
        COUNT(*) AS orders,
        COUNT(DISTINCT user_id) AS customers,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS revenue
    FROM silver.orders
    GROUP BY COALESCE(payment_method, 'unknown')
)
SELECT
    payment_method,
    orders,
    customers,
    revenue,
    CAST(revenue AS DOUBLE) / orders AS aov,
    CAST(orders AS DOUBLE) / SUM(orders) OVER () AS order_share,
    CAST(revenue AS DOUBLE) / NULLIF(CAST(SUM(revenue) OVER () AS DOUBLE), 0) AS revenue_share
FROM by_method
