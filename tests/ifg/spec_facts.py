"""Published facts from SPEC.md that more than one test module checks against."""

import numpy as np

#: SPEC section 4: the 8x8 ESA (Manhattan) enumeration, each cell its 1-D index
ESA_8X8 = np.array([
    [0, 1, 3, 6, 10, 15, 21, 28],
    [2, 4, 7, 11, 16, 22, 29, 36],
    [5, 8, 12, 17, 23, 30, 37, 43],
    [9, 13, 18, 24, 31, 38, 44, 49],
    [14, 19, 25, 32, 39, 45, 50, 54],
    [20, 26, 33, 40, 46, 51, 55, 58],
    [27, 34, 41, 47, 52, 56, 59, 61],
    [35, 42, 48, 53, 57, 60, 62, 63],
])
