"""What every HTTP answer has in common: middleware, errors, pages, static files."""
