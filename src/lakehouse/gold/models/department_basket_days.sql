/*
name = "department_basket_days"
refresh = "by_date"
key = "date"
period = "day"
lookback = 0
grain = "one row per order date (UTC) with lines and pair of departments (department_a <= department_b) in the same order that day"
freshness = "every run"
description = """
Building block of gold.department_pairs: per order date, how many orders hold products of both
departments of a pair (department_a = department_b: orders holding that department) and how many
baskets (orders with lines) the day had. Every order falls on one date, so these counts add up
over dates exactly: department_pairs sums this table instead of re-reading every order line, and
a run refreshes only the days it touched. A basket is the set of distinct departments of an
order; lines of products without a department count towards the basket only (a date whose
lines all lack a department has one row with null departments and orders)."""

[columns]
date = "Order date (UTC)."
department_a = "Alphabetically first department of the pair."
department_b = "The other department (equal to department_a: the department alone)."
orders = "Orders of the date that hold products of both departments."
baskets = "Orders with lines on the date (the same on every row of the date)."
*/
WITH baskets AS (
    SELECT DISTINCT i.date, i.order_id, p.department
    FROM silver.order_items AS i
    JOIN silver.products AS p ON p.product_id = i.product_id
),
day_baskets AS (
    SELECT date, COUNT(DISTINCT order_id) AS baskets FROM baskets GROUP BY date
),
pairs AS (
    SELECT a.date, a.department AS department_a, b.department AS department_b, COUNT(*) AS orders
    FROM baskets AS a
    JOIN baskets AS b ON b.order_id = a.order_id AND b.department >= a.department
    GROUP BY a.date, a.department, b.department
)
SELECT d.date, p.department_a, p.department_b, p.orders, d.baskets
FROM day_baskets AS d
LEFT JOIN pairs AS p ON p.date = d.date
