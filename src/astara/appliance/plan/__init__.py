"""Pure planning: desired document + observed state → operations. No I/O here."""
