"""Pure decision code over plain data, the same for station and office: the
authorization engine today; discounts, loyalty and vouchers join it."""
