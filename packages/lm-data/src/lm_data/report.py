def write_report(d): pass
