/*
name = "product_pair_counts"
refresh = "additive"
measures = ["pair_orders"]
grain = "one row per unordered pair of products (product_a < product_b) bought together in at least one basket of 2 to 50 distinct products"
description = """
Running pair counts behind gold.product_pairs: for every two products in the same basket (the
distinct products of an order), the number of such baskets. Only baskets of 2 to 50 distinct
products count, which bounds the pairs an order adds. It is additive: a run adds the pairs of
the orders on the dates it touched and subtracts those dates' pairs as the previous build read
them, so its cost follows the run, not the history; the table is bounded by the pairs the
catalog can form."""

[columns]
product_a = "Lower product id of the pair."
product_b = "Higher product id of the pair."
pair_orders = "Baskets of 2 to 50 distinct products that contain both products."
*/
WITH baskets AS (
    SELECT DISTINCT order_id, product_id FROM silver.order_items
),
basket_products AS (
    SELECT order_id, COUNT(*) AS products FROM baskets GROUP BY order_id
),
eligible AS (
    SELECT b.order_id, b.product_id
    FROM baskets AS b
    JOIN basket_products AS s ON s.order_id = b.order_id
    WHERE s.products BETWEEN 2 AND 50
)
SELECT a.product_id AS product_a, b.product_id AS product_b, COUNT(*) AS pair_orders
FROM eligible AS a
JOIN eligible AS b ON b.order_id = a.order_id AND b.product_id > a.product_id
GROUP BY a.product_id, b.product_id
