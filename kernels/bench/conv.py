def rows(device, quick, roof):
    return []
