# test_hello.py
from pathlib import Path

SCRIPT = Path(__file__).parent / "hello.py"


def test_hello(orthanc_factory, dicom_files):
    orthanc = orthanc_factory(SCRIPT, {"StableAge": 1})        # extra Orthanc configuration
    assert orthanc.get("/hello/world").json()["hello"] == "world"
    instance = orthanc.upload(dicom_files / "CT_small.dcm")    # the instance id
    orthanc.wait_for(lambda: orthanc.get(f"/checksum/{instance}").status == 200)
