/*
name = "basket_sizes"
refresh = "additive"
measures = ["baskets"]
grain = "one row per basket size (distinct products in an order) that occurs"
description = """
How many distinct products baskets hold: for each size, the number of orders with lines that
hold that many distinct products. Their sum is every basket, the total gold.product_pairs
measures support against. Additive: a run adds its dates' baskets and subtracts those dates'
baskets as the previous build read them."""

[columns]
products = "Distinct products in the basket."
baskets = "Orders with lines holding that many distinct products."
*/
SELECT products, COUNT(*) AS baskets
FROM (
    SELECT order_id, COUNT(DISTINCT product_id) AS products
    FROM silver.order_items
    GROUP BY order_id
) AS sized
GROUP BY products
