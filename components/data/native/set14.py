"""Set14 (Zeyde et al. 2010; x4 SR evaluation, Table 6.3): 14 HR PNGs, test split only.

Set14_HR.tar.gz (the Hugging Face mirror eugenesiow/Set14) holds `Set14_HR/<name>.png` (baboon.png, face.png,
...); the download stage unpacks it into `<raw>/Set14_HR/`, so the images are `<raw>/Set14_HR/Set14_HR/*.png`.
A grey image would be stored as RGB (meta `mode` keeps the original mode).
"""
from components.data.native.image_set import ImageSet

SOURCE = ImageSet("set14", "Set14_HR/Set14_HR/*.png", archive="Set14_HR.tar.gz")
