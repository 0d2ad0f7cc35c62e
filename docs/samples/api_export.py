from runtime import route, sdk


@route('/export/{study:id}')
def export(request):
    yield 'SOPInstanceUID,Size\n'
    for instance in sdk.rest_get(f"/studies/{request.params['study']}/instances"):
        yield f"{instance['MainDicomTags']['SOPInstanceUID']},{instance['FileSize']}\n"
