/*
name = "customer_profile"
refresh = "by_user"
grain = "one row per customer (user_id) with at least one order"
freshness = "every run"
description = """
One profile per customer over all history: orders, spend, average order value, units, average
days between orders, favourite department, preferred payment method, first and last order.
Spend is the sum of the customer's orders' total_amount (decimal(18,2)), as charged. Units count
quantity (null -> 1). The favourite department is the one with the most units (ties: the
alphabetically first); the preferred payment method the one used on most orders (null ->
'unknown'; ties: alphabetically first). Average days between orders is (last order time - first
order time) / (orders - 1), in days, from order timestamps."""

[columns]
user_id = "Customer."
orders = "Orders placed."
spend = "Sum of total_amount of those orders, decimal(18,2)."
aov = "spend / orders (double)."
items = "Units bought (quantity, null counts as 1)."
lines = "Order lines."
distinct_products = "Distinct products bought."
reorder_rate = "Share of the customer's lines flagged reordered (double); null without lines."
first_order_at = "Time of the first order (UTC)."
last_order_at = "Time of the latest order (UTC)."
first_order_date = "Date of the first order (UTC)."
last_order_date = "Date of the latest order (UTC)."
avg_days_between_orders = "(last_order_at - first_order_at) / (orders - 1) in days (double); null with one order."
favourite_department = "Department with the most units bought; null without lines."
favourite_department_units = "Units bought in that department."
preferred_payment_method = "Payment method used on most orders ('unknown' when not sent)."
*/
WITH by_user AS (
    SELECT
        user_id,
        COUNT(*) AS orders,
        CAST(SUM(total_amount) AS DECIMAL(18, 2)) AS spend,
        MIN(order_timestamp) AS first_order_at,
        MAX(order_timestamp) AS last_order_at,
        MIN(date) AS first_order_date,
        MAX(date) AS last_order_date
    FROM silver.orders
    GROUP BY user_id
),
user_lines AS (
    -- one scan of the lines for both aggregations below
    SELECT i.user_id, i.product_id, COALESCE(i.quantity, 1) AS quantity, i.reordered, p.department
    FROM silver.order_items AS i
    JOIN silver.products AS p ON p.product_id = i.product_id
),
lines_by_user AS (
    SELECT
        user_id,
        CAST(SUM(quantity) AS BIGINT) AS items,
        COUNT(*) AS lines,
        COUNT(DISTINCT product_id) AS distinct_products,
        CAST(SUM(reordered) AS BIGINT) AS reordered_lines
    FROM user_lines
    GROUP BY user_id
),
departments AS (
    SELECT
        user_id,
        department,
        units,
        ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY units DESC, department) AS row_index
    FROM (
        SELECT user_id, department, CAST(SUM(quantity) AS BIGINT) AS units
        FROM user_lines
        GROUP BY user_id, department
    ) AS user_departments
),
payments AS (
    SELECT
        user_id,
        payment_method,
        ROW_NUMBER() OVER (
            PARTITION BY user_id ORDER BY orders DESC, payment_method
        ) AS row_index
    FROM (
        SELECT user_id, COALESCE(payment_method, 'unknown') AS payment_method, COUNT(*) AS orders
        FROM silver.orders
        GROUP BY user_id, COALESCE(payment_method, 'unknown')
    ) AS user_payments
)
SELECT
    u.user_id,
    u.orders,
    u.spend,
    CAST(u.spend AS DOUBLE) / u.orders AS aov,
    COALESCE(l.items, 0) AS items,
    COALESCE(l.lines, 0) AS lines,
    COALESCE(l.distinct_products, 0) AS distinct_products,
    CAST(l.reordered_lines AS DOUBLE) / l.lines AS reorder_rate,
    u.first_order_at,
    u.last_order_at,
    u.first_order_date,
    u.last_order_date,
    CASE
        WHEN u.orders > 1
            THEN CAST(DATE_DIFF('second', u.first_order_at, u.last_order_at) AS DOUBLE)
            / (86400 * (u.orders - 1))
    END AS avg_days_between_orders,
    d.department AS favourite_department,
    d.units AS favourite_department_units,
    pm.payment_method AS preferred_payment_method
FROM by_user AS u
LEFT JOIN lines_by_user AS l ON l.user_id = u.user_id
LEFT JOIN departments AS d ON d.user_id = u.user_id AND d.row_index = 1
LEFT JOIN payments AS pm ON pm.user_id = u.user_id AND pm.row_index = 1
