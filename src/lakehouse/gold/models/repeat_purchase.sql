/*
name = "repeat_purchase"
refresh = "full"
depends_on = ["customer_profile"]
grain = "one row per number of orders a customer has placed (1, 2, 3, ...)"
freshness = "every run"
description = """
How many customers come back: the distribution of orders per customer, with the overall
repeat-customer rate (customers with two or more orders / all customers) repeated on every row.
Spend is the sum of total_amount (decimal(18,2)), as charged."""

[columns]
orders_per_customer = "Number of orders a customer has placed."
customers = "Customers with exactly that many orders."
customer_share = "customers / all customers (double)."
cumulative_customer_share = "Share of customers with at most that many orders (double)."
spend = "Sum of those customers' spend, decimal(18,2)."
spend_share = "spend / all spend (double); null when all spend is 0."
total_customers = "All customers (same on every row)."
repeat_customers = "Customers with two or more orders (same on every row)."
repeat_customer_rate = "repeat_customers / total_customers (double, same on every row)."
*/
WITH distribution AS (
    SELECT
        orders AS orders_per_customer,
        COUNT(*) AS customers,
        CAST(SUM(spend) AS DECIMAL(18, 2)) AS spend
    FROM gold.customer_profile
    GROUP BY orders
),
totals AS (
    SELECT
        COUNT(*) AS total_customers,
        CAST(SUM(CASE WHEN orders > 1 THEN 1 ELSE 0 END) AS BIGINT) AS repeat_customers,
        CAST(SUM(spend) AS DECIMAL(18, 2)) AS total_spend
    FROM gold.customer_profile
)
SELECT
    d.orders_per_customer,
    d.customers,
    CAST(d.customers AS DOUBLE) / t.total_customers AS customer_share,
    CAST(
        SUM(d.customers) OVER (
            ORDER BY d.orders_per_customer ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS DOUBLE
    ) / t.total_customers AS cumulative_customer_share,
    d.spend,
    CAST(d.spend AS DOUBLE) / NULLIF(CAST(t.total_spend AS DOUBLE), 0) AS spend_share,
    t.total_customers,
    t.repeat_customers,
    CAST(t.repeat_customers AS DOUBLE) / t.total_customers AS repeat_customer_rate
FROM distribution AS d
CROSS JOIN totals AS t
