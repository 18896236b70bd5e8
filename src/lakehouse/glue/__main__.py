"""`python -m lakehouse.glue --root s3://bucket/prefix`: the Glue job's script body."""

from lakehouse.glue.job import main

if __name__ == "__main__":
    main()
