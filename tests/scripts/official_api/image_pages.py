"""Pictures for the referring physicians' portal, drawn with Pillow from Orthanc's renderings.

``GET /series/<id>/contact-sheet`` is a PNG of the series' slices in order, as a grid
(as many columns as the square root of the count, rounded up; rows as needed; empty
cells black). ``GET /instances/<id>/thumbnail`` is a JPEG at most 64 pixels wide or high.
"""

import io
import json
import math

import orthanc
from PIL import Image


def preview(path):
    return Image.open(io.BytesIO(orthanc.RestApiGet(path + "/preview"))).convert("L")


def contact_sheet(output, uri, **request):
    series = request["groups"][0]
    ordered = json.loads(orthanc.RestApiGet(f"/series/{series}/ordered-slices"))
    paths = ordered["Slices"]
    tiles = [preview(path) for path in paths]
    width, height = tiles[0].size
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new("L", (columns * width, rows * height))
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        sheet.paste(tile, (column * width, row * height))
    encoded = io.BytesIO()
    sheet.save(encoded, "PNG")
    output.AnswerBuffer(encoded.getvalue(), "image/png")


def thumbnail(output, uri, **request):
    if request["method"] != "GET":
        output.SendMethodNotAllowed("GET")
        return
    rendered = orthanc.RestApiGet(f"/instances/{request['groups'][0]}/rendered")
    picture = Image.open(io.BytesIO(rendered))
    picture.thumbnail((64, 64), Image.Resampling.LANCZOS)
    encoded = io.BytesIO()
    picture.convert("RGB").save(encoded, "JPEG", quality=85)
    output.AnswerBuffer(encoded.getvalue(), "image/jpeg")


orthanc.RegisterRestCallback("/series/([^/]+)/contact-sheet", contact_sheet)
orthanc.RegisterRestCallback("/instances/([^/]+)/thumbnail", thumbnail)
