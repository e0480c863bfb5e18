"""Urban100 (Huang et al. 2015; x4 SR evaluation, Table 6.3 "Urban"): 100 HR PNGs, test split only.

Urban100_HR.tar.gz (the Hugging Face mirror eugenesiow/Urban100) holds `Urban100_HR/img_001.png` ... `img_100.png`;
the download stage unpacks it into `<raw>/Urban100_HR/`, so the images are `<raw>/Urban100_HR/Urban100_HR/*.png`.
"""
from components.data.native.image_set import ImageSet

SOURCE = ImageSet("urban100", "Urban100_HR/Urban100_HR/*.png", archive="Urban100_HR.tar.gz")
