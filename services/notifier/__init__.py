"""The notifier: who gets which notifications, and (later) delivering them."""
