/*
name = "product_performance"
refresh = "full"
depends_on = ["product_days", "reorder_patterns"]
grain = "one row per product in silver.products (products never sold included, with zeros)"
freshness = "budget"
description = """
How each product sells over all history: units, orders, customers, revenue, reorder rate, its
share of its department, its rank, and its trend over the last 7 days against the 7 days before
(both ending on the newest order date in silver.orders). Units count quantity (null -> 1).
Revenue is line revenue (decimal(18,2)): unit_price * quantity for priced lines; lines without
a unit_price share their order's total_amount (less the priced lines) in proportion to quantity,
to the cent. Shares, ranks and the trend window depend on every product, so the model is rebuilt
in full, from small inputs: the sums come from gold.product_days (per product and date), the
distinct customers from gold.reorder_patterns."""

[columns]
product_id = "Product."
product_name = "Product display name."
department = "Product department."
aisle = "Aisle, when the shop sends one."
category = "Category, when the shop sends one."
units = "Units sold (quantity, null counts as 1); 0 when never sold."
lines = "Order lines."
orders = "Distinct orders that contain the product."
customers = "Distinct customers who bought the product."
revenue = "Line revenue, decimal(18,2); 0 when never sold."
reorder_rate = "Share of the product's lines flagged reordered (double); null when never sold."
department_units_share = "units / units of the product's department (double); null when that is 0."
department_revenue_share = "revenue / revenue of the product's department (double); null when that is 0."
revenue_rank = "Rank by revenue among all products, 1 = highest; ties share a rank."
department_revenue_rank = "Rank by revenue within the department, 1 = highest; ties share a rank."
units_last_7d = "Units sold on the 7 days ending on the newest order date."
units_prev_7d = "Units sold on the 7 days before those."
units_trend = "(units_last_7d - units_prev_7d) / units_prev_7d (double); null when units_prev_7d is 0."
revenue_last_7d = "Line revenue on the 7 days ending on the newest order date, decimal(18,2)."
revenue_prev_7d = "Line revenue on the 7 days before those, decimal(18,2)."
*/
WITH windows AS (
    SELECT
        CAST(MAX(date) - INTERVAL 7 DAY AS DATE) AS last_start,
        CAST(MAX(date) - INTERVAL 14 DAY AS DATE) AS prev_start
    FROM silver.orders
),
sales AS (
    SELECT
        d.product_id,
        CAST(SUM(d.units) AS BIGINT) AS units,
        CAST(SUM(d.lines) AS BIGINT) AS lines,
        CAST(SUM(d.orders) AS BIGINT) AS orders,
        CAST(SUM(d.revenue) AS DECIMAL(18, 2)) AS revenue,
        CAST(SUM(d.reordered_lines) AS BIGINT) AS reordered_lines,
        CAST(SUM(CASE WHEN d.date > w.last_start THEN d.units ELSE 0 END) AS BIGINT)
            AS units_last_7d,
        CAST(SUM(
            CASE WHEN d.date > w.prev_start AND d.date <= w.last_start THEN d.units ELSE 0 END
        ) AS BIGINT) AS units_prev_7d,
        CAST(SUM(CASE WHEN d.date > w.last_start THEN d.revenue ELSE 0 END) AS DECIMAL(18, 2))
            AS revenue_last_7d,
        CAST(SUM(
            CASE WHEN d.date > w.prev_start AND d.date <= w.last_start THEN d.revenue ELSE 0 END
        ) AS DECIMAL(18, 2)) AS revenue_prev_7d
    FROM gold.product_days AS d
    CROSS JOIN windows AS w
    GROUP BY d.product_id
),
products AS (
    SELECT
        p.product_id,
        p.product_name,
        p.department,
        p.aisle,
        p.category,
        COALESCE(s.units, 0) AS units,
        COALESCE(s.lines, 0) AS lines,
        COALESCE(s.orders, 0) AS orders,
        COALESCE(r.customers, 0) AS customers,
        COALESCE(s.revenue, CAST(0 AS DECIMAL(18, 2))) AS revenue,
        CAST(s.reordered_lines AS DOUBLE) / s.lines AS reorder_rate,
        COALESCE(s.units_last_7d, 0) AS units_last_7d,
        COALESCE(s.units_prev_7d, 0) AS units_prev_7d,
        COALESCE(s.revenue_last_7d, CAST(0 AS DECIMAL(18, 2))) AS revenue_last_7d,
        COALESCE(s.revenue_prev_7d, CAST(0 AS DECIMAL(18, 2))) AS revenue_prev_7d
    FROM silver.products AS p
    LEFT JOIN sales AS s ON s.product_id = p.product_id
    LEFT JOIN gold.reorder_patterns AS r ON r.product_id = p.product_id
)
SELECT
    product_id,
    product_name,
    department,
    aisle,
    category,
    units,
    lines,
    orders,
    customers,
    revenue,
    reorder_rate,
    CAST(units AS DOUBLE)
    / NULLIF(CAST(SUM(units) OVER (PARTITION BY department) AS DOUBLE), 0) AS department_units_share,
    CAST(revenue AS DOUBLE)
    / NULLIF(CAST(SUM(revenue) OVER (PARTITION BY department) AS DOUBLE), 0)
        AS department_revenue_share,
    RANK() OVER (ORDER BY revenue DESC) AS revenue_rank,
    RANK() OVER (PARTITION BY department ORDER BY revenue DESC) AS department_revenue_rank,
    units_last_7d,
    units_prev_7d,
    CAST(units_last_7d - units_prev_7d AS DOUBLE) / NULLIF(units_prev_7d, 0) AS units_trend,
    revenue_last_7d,
    revenue_prev_7d
FROM products
