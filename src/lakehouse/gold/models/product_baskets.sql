/*
name = "product_baskets"
refresh = "additive"
measures = ["baskets"]
grain = "one row per product with order lines"
description = """
Running count of the baskets (orders with lines) that hold each product, whatever the basket's
size: the per-product counts gold.product_pairs divides by. Additive: a run adds its dates'
baskets and subtracts those dates' baskets as the previous build read them."""

[columns]
product_id = "Product."
baskets = "Orders with at least one line of the product."
*/
SELECT product_id, COUNT(DISTINCT order_id) AS baskets
FROM silver.order_items
GROUP BY product_id
