"""Money in the core: who pays, prices, the guards before a paid action, and the cashier."""
