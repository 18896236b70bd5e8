/*
name = "catalog_summary"
refresh = "full"
depends_on = ["product_days"]
grain = "one row for the whole catalog (level 'all'), one per department and one per department and aisle"
freshness = "every run"
description = """
Catalog health: products per department and aisle, how many never sold, how many are active (sold
in the 30 days ending on the newest order date in silver.orders), and concentration: the fewest
products that together make 80 % of the units sold (products ranked by units, then id). Units
count quantity (null -> 1). Rows with level 'aisle' and a null aisle hold the department's
products that have no aisle."""

[columns]
level = "'all', 'department' or 'aisle'."
department = "Department; null on the 'all' row."
aisle = "Aisle on 'aisle' rows (null = products without an aisle); null on other rows."
products = "Products in the catalog."
sold_products = "Products sold at least once."
never_sold_products = "Products never sold."
active_products = "Products sold in the 30 days ending on the newest order date."
active_share = "active_products / products (double)."
units = "Units sold over all history."
products_for_80pct_units = "Fewest products that together make at least 80 % of units; 0 when nothing sold."
share_of_products_for_80pct_units = "products_for_80pct_units / products (double)."
*/
WITH window_start AS (
    SELECT CAST(MAX(date) - INTERVAL 30 DAY AS DATE) AS active_after FROM silver.orders
),
sales AS (
    -- from the per-day building block (one row per product and day sold), not every line
    SELECT product_id, CAST(SUM(units) AS BIGINT) AS units, MAX(date) AS last_sold
    FROM gold.product_days
    GROUP BY product_id
),
catalog_products AS (
    SELECT
        p.product_id,
        p.department,
        p.aisle,
        COALESCE(s.units, 0) AS units,
        CASE WHEN s.last_sold > w.active_after THEN 1 ELSE 0 END AS active
    FROM silver.products AS p
    CROSS JOIN window_start AS w
    LEFT JOIN sales AS s ON s.product_id = p.product_id
),
levels AS (
    SELECT
        'all' AS level,
        CAST(NULL AS VARCHAR) AS department,
        CAST(NULL AS VARCHAR) AS aisle,
        product_id,
        units,
        active
    FROM catalog_products
    UNION ALL
    SELECT 'department' AS level, department, CAST(NULL AS VARCHAR) AS aisle, product_id, units, active
    FROM catalog_products
    UNION ALL
    SELECT 'aisle' AS level, department, aisle, product_id, units, active
    FROM catalog_products
),
cumulative AS (
    SELECT
        level,
        department,
        aisle,
        product_id,
        units,
        active,
        SUM(units) OVER (
            PARTITION BY level, department, aisle
            ORDER BY units DESC, product_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) - units AS units_before,
        SUM(units) OVER (PARTITION BY level, department, aisle) AS group_units
    FROM levels
)
SELECT
    level,
    department,
    aisle,
    COUNT(*) AS products,
    CAST(SUM(CASE WHEN units > 0 THEN 1 ELSE 0 END) AS BIGINT) AS sold_products,
    CAST(SUM(CASE WHEN units = 0 THEN 1 ELSE 0 END) AS BIGINT) AS never_sold_products,
    CAST(SUM(active) AS BIGINT) AS active_products,
    CAST(SUM(active) AS DOUBLE) / COUNT(*) AS active_share,
    CAST(SUM(units) AS BIGINT) AS units,
    CAST(SUM(CASE WHEN units > 0 AND units_before * 5 < group_units * 4 THEN 1 ELSE 0 END) AS BIGINT)
        AS products_for_80pct_units,
    CAST(SUM(CASE WHEN units > 0 AND units_before * 5 < group_units * 4 THEN 1 ELSE 0 END) AS DOUBLE)
    / COUNT(*) AS share_of_products_for_80pct_units
FROM cumulative
GROUP BY level, department, aisle
