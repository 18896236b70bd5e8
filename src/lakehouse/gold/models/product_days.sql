/*
name = "product_days"
refresh = "by_date"
key = "date"
period = "day"
lookback = 0
grain = "one row per order date (UTC) and product sold that day"
freshness = "every run"
description = """
Building block of gold.product_performance: what each product sold per order date. Every order
falls on one date, so each column adds up over dates exactly (distinct orders included), and a
run refreshes only the days it touched instead of product_performance re-reading every line.
Units count quantity (null -> 1). Revenue is line revenue (decimal(18,2)): unit_price * quantity
for priced lines; lines without a unit_price share their order's total_amount (less the priced
lines) in proportion to quantity, to the cent."""

[columns]
date = "Order date (UTC)."
product_id = "Product."
units = "Units sold (quantity, null counts as 1)."
lines = "Order lines."
orders = "Distinct orders of the date that contain the product."
revenue = "Line revenue, decimal(18,2)."
reordered_lines = "Lines flagged reordered = 1."
*/
WITH day_lines AS (
    SELECT l.date, l.product_id, l.order_id, l.quantity, l.revenue, l.reordered
    FROM gold.line_revenue AS l
),
sales AS (
    SELECT
        date,
        product_id,
        CAST(SUM(quantity) AS BIGINT) AS units,
        COUNT(*) AS lines,
        CAST(SUM(revenue) AS DECIMAL(18, 2)) AS revenue,
        CAST(SUM(reordered) AS BIGINT) AS reordered_lines
    FROM day_lines
    GROUP BY date, product_id
),
-- the distinct count as its own aggregation: beside the sums it costs DuckDB far more
day_orders AS (
    SELECT date, product_id, COUNT(*) AS orders
    FROM (SELECT DISTINCT date, product_id, order_id FROM day_lines) AS d
    GROUP BY date, product_id
)
SELECT s.date, s.product_id, s.units, s.lines, o.orders, s.revenue, s.reordered_lines
FROM sales AS s
JOIN day_orders AS o ON o.date = s.date AND o.product_id = s.product_id
