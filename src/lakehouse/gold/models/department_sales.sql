/*
name = "department_sales"
refresh = "by_date"
key = "date"
period = "day"
lookback = 0
grain = "one row per order date (UTC) and product department that sold something"
freshness = "every run"
description = """
Sales per department and day, from order lines. Units count quantity (null -> 1). Revenue is line
revenue (decimal(18,2)): unit_price * quantity for priced lines; lines without a unit_price share
their order's total_amount (less the priced lines) in proportion to quantity, to the cent, so
an order without prices adds up exactly to its total_amount. The department is the product's
current department in silver.products: moving a product to another department needs a full
rebuild to restate past days."""

[columns]
date = "Order date (UTC)."
department = "Product department."
units = "Units sold (quantity, null counts as 1)."
lines = "Order lines."
orders = "Distinct orders with at least one line in the department."
customers = "Distinct customers who bought in the department that day."
revenue = "Line revenue, decimal(18,2) (see the revenue rule above)."
revenue_share = "revenue / the day's line revenue over all departments (double); null when that is 0."
*/
WITH per_order AS (
    SELECT
        l.date,
        p.department,
        l.order_id,
        l.user_id,
        SUM(l.quantity) AS units,
        COUNT(*) AS lines,
        SUM(l.revenue) AS revenue
    FROM gold.line_revenue AS l
    JOIN silver.products AS p ON p.product_id = l.product_id
    GROUP BY l.date, p.department, l.order_id, l.user_id
),
by_department AS (
    SELECT
        date,
        department,
        CAST(SUM(units) AS BIGINT) AS units,
        CAST(SUM(lines) AS BIGINT) AS lines,
        COUNT(*) AS orders,
        COUNT(DISTINCT user_id) AS customers,
        CAST(SUM(revenue) AS DECIMAL(18, 2)) AS revenue
    FROM per_order
    GROUP BY date, department
)
SELECT
    date,
    department,
    units,
    lines,
    orders,
    customers,
    revenue,
    CAST(revenue AS DOUBLE)
    / NULLIF(CAST(SUM(revenue) OVER (PARTITION BY date) AS DOUBLE), 0) AS revenue_share
FROM by_department
