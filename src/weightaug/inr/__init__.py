"""INR datasets: sources, batched fitting, on-disk format, import, rendering."""
