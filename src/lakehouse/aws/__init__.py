"""AWS integration: Glue Data Catalog sync, Athena DDL and KPI queries, the S3-event trigger
Lambda, CloudWatch metrics. Every module imports boto3 lazily (the `aws` extra), so importing
this package costs nothing; the trigger handler imports only the standard library and boto3,
so it can be deployed as a Lambda on its own.
"""
