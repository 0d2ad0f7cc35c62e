"""Routes of our own for the on-call team, and a button for them in Orthanc Explorer.

``GET /site/beds/<unit>/<bed>`` tells where a bed is (the unit and bed come from the
route's regex groups); ``GET /site/python`` says which Python runs the site's scripts,
and the lookup page of Orthanc Explorer gets a button that shows it.
"""

import json
import platform

import orthanc

UNITS = {
    "icu": "Intensive care unit, building B, 2nd floor",
    "er": "Emergency department, building A, ground floor",
}


def bed_location(output, uri, **request):
    unit, bed = request["groups"]
    orthanc.LogWarning(f"site route {uri}: method {request['method']}, "
                       f"groups {request['groups']}, query {request['get']}")
    answer = {"unit": unit, "bed": int(bed), "where": UNITS[unit]}
    output.AnswerBuffer(json.dumps(answer), "application/json")


def python_in_use(output, uri, **request):
    output.AnswerBuffer(f"Site scripts run on Python {platform.python_version()}",
                        "text/plain")


orthanc.RegisterRestCallback("/site/beds/(icu|er)/([0-9]+)", bed_location)
orthanc.RegisterRestCallback("/site/python", python_in_use)

# Orthanc Explorer is jQuery Mobile: add the button once, when the lookup page shows.
orthanc.ExtendOrthancExplorer("""
$('#lookup').live('pagebeforeshow', function () {
  if ($('#site-python-info').length > 0) {
    return;
  }
  $('<a id="site-python-info" data-role="button" href="#">Which Python runs our scripts?</a>')
    .insertAfter('#lookup-result')
    .button()
    .click(function () {
      $.get('../site/python', function (text) { window.alert(text); });
    });
});
""")
