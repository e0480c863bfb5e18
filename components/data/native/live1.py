"""LIVE1 (JPEG artifact reduction evaluation, Table 6.2, Fig. 6.4): the 29 reference images of LIVE IQA release 2.

databaserelease2.zip (Sheikh et al.) holds one folder `databaserelease2/` with the distorted sets (jp2k, jpeg, wn,
gblur, fastfading), their .mat score files and `refimgs/`, the 29 undistorted 24-bit BMPs (bikes.bmp ...
womanhat.bmp) that JPEG restoration papers call LIVE1. The download stage unpacks the zip into
`<raw>/databaserelease2/`, so they are `<raw>/databaserelease2/databaserelease2/refimgs/*.bmp`; only these are read.
"""
from components.data.native.image_set import ImageSet

SOURCE = ImageSet("live1", "databaserelease2/databaserelease2/refimgs/*.bmp", archive="databaserelease2.zip")
