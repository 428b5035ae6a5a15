"""The objects everything else learns from: image sources read from their standard formats, and seeded splits.

INR fitting, the pixel baselines and shadow-weight training all read their data here.
"""
