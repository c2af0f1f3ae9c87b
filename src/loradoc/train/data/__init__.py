"""Datasets -> prompt format -> tokens and labels, filtered, split and cached."""
