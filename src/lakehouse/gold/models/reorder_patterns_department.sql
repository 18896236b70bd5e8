/*
name = "reorder_patterns_department"
refresh = "full"
depends_on = ["reorder_patterns"]
grain = "one row per product department that has order lines"
freshness = "budget"
description = """
Reorder behaviour per department, added up exactly from the sums and counts in
gold.reorder_patterns (see there for the definitions): reorder rate, average cart position of
reordered and first-time lines, and time to reorder. A product counts in its current
department."""

[columns]
department = "Product department."
products = "Products of the department that have order lines."
lines = "Order lines."
reordered_lines = "Lines flagged reordered = 1."
first_time_lines = "Lines flagged reordered = 0."
reorder_rate = "reordered_lines / lines (double)."
avg_cart_position_reordered = "Mean add_to_cart_order of reordered lines (double); null when none."
avg_cart_position_first_time = "Mean add_to_cart_order of first-time lines (double); null when none."
avg_days_since_prior_order_reordered = "Mean days_since_prior_order of reordered lines that carry one (double)."
repurchases = "Consecutive order pairs of a customer that both contain the same product of the department."
avg_days_to_repurchase = "Mean days between those two orders (double); null when none."
*/
WITH sums AS (
    SELECT
        department,
        COUNT(*) AS products,
        CAST(SUM(lines) AS BIGINT) AS lines,
        CAST(SUM(reordered_lines) AS BIGINT) AS reordered_lines,
        CAST(SUM(first_time_lines) AS BIGINT) AS first_time_lines,
        CAST(SUM(cart_position_sum_reordered) AS BIGINT) AS cart_position_sum_reordered,
        CAST(SUM(cart_position_sum_first_time) AS BIGINT) AS cart_position_sum_first_time,
        CAST(SUM(days_since_prior_sum_reordered) AS BIGINT) AS days_since_prior_sum_reordered,
        CAST(SUM(days_since_prior_count_reordered) AS BIGINT) AS days_since_prior_count_reordered,
        CAST(SUM(repurchases) AS BIGINT) AS repurchases,
        CAST(SUM(repurchase_seconds) AS BIGINT) AS repurchase_seconds
    FROM gold.reorder_patterns
    GROUP BY department
)
SELECT
    department,
    products,
    lines,
    reordered_lines,
    first_time_lines,
    CAST(reordered_lines AS DOUBLE) / lines AS reorder_rate,
    CAST(cart_position_sum_reordered AS DOUBLE)
    / NULLIF(reordered_lines, 0) AS avg_cart_position_reordered,
    CAST(cart_position_sum_first_time AS DOUBLE)
    / NULLIF(first_time_lines, 0) AS avg_cart_position_first_time,
    CAST(days_since_prior_sum_reordered AS DOUBLE)
    / NULLIF(days_since_prior_count_reordered, 0) AS avg_days_since_prior_order_reordered,
    repurchases,
    CAST(repurchase_seconds AS DOUBLE) / (86400 * NULLIF(repurchases, 0)) AS avg_days_to_repurchase
FROM sums
