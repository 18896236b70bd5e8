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
WITH department_lines AS (
    SELECT l.date, p.department, l.order_id, l.user_id, l.quantity, l.revenue
    FROM gold.line_revenue AS l
    JOIN silver.products AS p ON p.product_id = l.product_id
),
sums AS (
    SELECT
        date,
        department,
        CAST(SUM(quantity) AS BIGINT) AS units,
        COUNT(*) AS lines,
        CAST(SUM(revenue) AS DECIMAL(18, 2)) AS revenue
    FROM department_lines
    GROUP BY date, department
),
-- each distinct count as its own aggregation of distinct rows, which spills to disk (the set
-- of a COUNT(DISTINCT ...) does not); cheaper than grouping every order and department first
day_orders AS (
    SELECT date, department, COUNT(*) AS orders
    FROM (SELECT DISTINCT date, department, order_id FROM department_lines) AS d
    GROUP BY date, department
),
day_customers AS (
    SELECT date, department, COUNT(*) AS customers
    FROM (SELECT DISTINCT date, department, user_id FROM department_lines) AS d
    GROUP BY date, department
),
by_department AS (
    SELECT s.date, s.department, s.units, s.lines, o.orders, c.customers, s.revenue
    FROM sums AS s
    JOIN day_orders AS o ON o.date = s.date AND o.department = s.department
    JOIN day_customers AS c ON c.date = s.date AND c.department = s.department
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
