"""Set5 (Bevilacqua et al. 2012; x4 SR evaluation, Table 6.3): 5 HR PNGs, test split only.

Set5_HR.tar.gz (the Hugging Face mirror eugenesiow/Set5) holds `Set5_HR/{baby,bird,butterfly,head,woman}.png`;
the download stage unpacks it into `<raw>/Set5_HR/`, so the images are `<raw>/Set5_HR/Set5_HR/*.png`.
"""
from components.data.native.image_set import ImageSet

SOURCE = ImageSet("set5", "Set5_HR/Set5_HR/*.png", archive="Set5_HR.tar.gz")
